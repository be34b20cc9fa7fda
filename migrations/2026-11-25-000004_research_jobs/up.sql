-- Durable queue of server research runs. A worker claims the oldest queued
-- job with
--   UPDATE research_jobs SET status = 'running', worker_id = $1,
--          attempts = attempts + 1, started_at = now(), heartbeat_at = now()
--   WHERE id = (SELECT id FROM research_jobs WHERE status = 'queued'
--               ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
--   RETURNING *;
-- keeps heartbeat_at fresh while running, and polls cancel_requested.

CREATE TABLE research_jobs (
    id                   uuid         NOT NULL DEFAULT gen_random_uuid(),
    research_session_id  uuid         NOT NULL,
    chat_id              uuid         NOT NULL,
    user_id              varchar(255) NOT NULL,
    status               varchar(20)  NOT NULL DEFAULT 'queued',
    -- the research request as submitted (query, depth, mode, options)
    request              jsonb        NOT NULL DEFAULT '{}',
    worker_id            varchar(255),
    attempts             integer      NOT NULL DEFAULT 0,
    heartbeat_at         timestamptz,
    cancel_requested     boolean      NOT NULL DEFAULT false,
    error_message        text,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    updated_at           timestamptz  NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    CONSTRAINT pk_research_jobs PRIMARY KEY (id),
    CONSTRAINT fk_research_jobs_research_session_id_research_sessions
        FOREIGN KEY (research_session_id) REFERENCES research_sessions (id) ON DELETE CASCADE,
    CONSTRAINT fk_research_jobs_chat_id_chats FOREIGN KEY (chat_id)
        REFERENCES chats (id) ON DELETE CASCADE,
    CONSTRAINT ck_research_jobs_status
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT ck_research_jobs_attempts CHECK (attempts >= 0)
);
-- claiming: oldest queued job first
CREATE INDEX ix_research_jobs_queued ON research_jobs (status, created_at)
    WHERE status = 'queued';
-- stale-heartbeat sweep over running jobs
CREATE INDEX ix_research_jobs_running_heartbeat ON research_jobs (heartbeat_at)
    WHERE status = 'running';
CREATE INDEX ix_research_jobs_user_created ON research_jobs (user_id, created_at DESC);
CREATE INDEX ix_research_jobs_research_session_id ON research_jobs (research_session_id);
CREATE INDEX ix_research_jobs_chat_id ON research_jobs (chat_id);
CREATE TRIGGER trg_research_jobs_updated_at BEFORE UPDATE ON research_jobs
    FOR EACH ROW EXECUTE FUNCTION dra_set_updated_at();
