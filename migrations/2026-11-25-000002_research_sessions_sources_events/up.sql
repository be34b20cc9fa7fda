-- Research sessions (one per agent answer), the sources they visited and the
-- activity events they streamed. Columns follow the Python original's final
-- schema; verification_data keeps its JSONB claims/summary blob, while the
-- normalised claim tables come in the next migration.

CREATE TABLE research_sessions (
    id                    uuid         NOT NULL DEFAULT gen_random_uuid(),
    -- the agent message this session answers with
    message_id            uuid         NOT NULL,
    query                 text         NOT NULL,
    status                varchar(20)  NOT NULL DEFAULT 'in_progress',
    plan                  jsonb,
    observations          jsonb,
    reasoning_steps       jsonb        NOT NULL DEFAULT '[]',
    research_depth        varchar(20)  NOT NULL DEFAULT 'auto',
    query_classification  jsonb,
    current_step_index    integer,
    plan_iterations       integer      NOT NULL DEFAULT 1,
    current_agent         varchar(50),
    created_at            timestamptz  NOT NULL DEFAULT now(),
    updated_at            timestamptz  NOT NULL DEFAULT now(),
    started_at            timestamptz  NOT NULL DEFAULT now(),
    completed_at          timestamptz,
    error_message         text,
    query_mode            varchar(20)  NOT NULL DEFAULT 'deep_research',
    user_id               varchar(255) NOT NULL,
    chat_id               uuid         NOT NULL,
    execution_state       jsonb,
    worker_id             varchar(255),
    last_heartbeat        timestamptz,
    verify_sources        boolean      NOT NULL DEFAULT true,
    verification_data     jsonb,
    CONSTRAINT pk_research_sessions PRIMARY KEY (id),
    CONSTRAINT fk_research_sessions_message_id_messages FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT fk_research_sessions_chat_id_chats FOREIGN KEY (chat_id)
        REFERENCES chats (id) ON DELETE CASCADE,
    CONSTRAINT uq_research_sessions_message_id UNIQUE (message_id),
    CONSTRAINT ck_research_sessions_status
        CHECK (status IN ('pending', 'in_progress', 'completed', 'cancelled', 'failed'))
);
CREATE INDEX ix_research_sessions_status ON research_sessions (status);
CREATE INDEX idx_research_sessions_user_status ON research_sessions (user_id, status);
CREATE INDEX idx_research_sessions_chat_status ON research_sessions (chat_id, status);
CREATE INDEX idx_research_sessions_heartbeat ON research_sessions (last_heartbeat, status)
    WHERE status = 'in_progress';
CREATE TRIGGER trg_research_sessions_updated_at BEFORE UPDATE ON research_sessions
    FOR EACH ROW EXECUTE FUNCTION dra_set_updated_at();

ALTER TABLE messages
    ADD CONSTRAINT fk_messages_research_session_id_research_sessions
    FOREIGN KEY (research_session_id) REFERENCES research_sessions (id) ON DELETE SET NULL;

CREATE TABLE sources (
    id                   uuid         NOT NULL DEFAULT gen_random_uuid(),
    research_session_id  uuid         NOT NULL,
    url                  text         NOT NULL,
    title                varchar(500),
    snippet              text,
    content              text,
    relevance_score      double precision,
    fetched_at           timestamptz  NOT NULL DEFAULT now(),
    total_pages          integer,
    -- JSON-encoded list of section headings, as text (as in the original)
    detected_sections    text,
    content_type         varchar(50),
    -- denormalised from research_sessions.chat_id for chat-wide source pools
    chat_id              uuid,
    is_cited             boolean      NOT NULL DEFAULT false,
    step_index           integer,
    step_title           varchar(500),
    crawl_status         varchar(20)  NOT NULL DEFAULT 'success',
    error_reason         text,
    source_type          varchar(50)  NOT NULL DEFAULT 'web',
    source_metadata      jsonb,
    CONSTRAINT pk_sources PRIMARY KEY (id),
    CONSTRAINT fk_sources_research_session_id_research_sessions
        FOREIGN KEY (research_session_id) REFERENCES research_sessions (id) ON DELETE CASCADE,
    CONSTRAINT fk_sources_chat_id_chats FOREIGN KEY (chat_id)
        REFERENCES chats (id) ON DELETE CASCADE,
    -- target of INSERT ... ON CONFLICT (research_session_id, url)
    CONSTRAINT uq_sources_session_url UNIQUE (research_session_id, url)
);
CREATE INDEX ix_sources_url ON sources (url);
-- chat-wide source pool lookups. Deliberately not UNIQUE: the original's
-- unique (chat_id, url) made a later session's upsert take over an earlier
-- session's source row (and, here, the evidence spans and citations under it).
CREATE INDEX ix_sources_chat_url ON sources (chat_id, url);
CREATE INDEX ix_sources_is_cited ON sources (research_session_id, is_cited);
CREATE INDEX ix_sources_step_index ON sources (research_session_id, step_index);
CREATE INDEX ix_sources_source_type ON sources (source_type);

CREATE TABLE research_events (
    id                   uuid        NOT NULL DEFAULT gen_random_uuid(),
    research_session_id  uuid        NOT NULL,
    event_type           varchar(50) NOT NULL,
    "timestamp"          timestamptz NOT NULL DEFAULT now(),
    payload              jsonb       NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- per-session, monotonically increasing; clients resume after the last
    -- sequence number they saw. Nullable because the original's rows from
    -- before its migration 008 have none.
    sequence_number      integer,
    CONSTRAINT pk_research_events PRIMARY KEY (id),
    CONSTRAINT fk_research_events_research_session_id_research_sessions
        FOREIGN KEY (research_session_id) REFERENCES research_sessions (id) ON DELETE CASCADE,
    CONSTRAINT uq_research_events_session_sequence UNIQUE (research_session_id, sequence_number)
);
CREATE INDEX ix_research_events_session_timestamp
    ON research_events (research_session_id, "timestamp");
