-- Conversations, messages, per-user preferences, message feedback and the
-- audit log. Column names, types and defaults follow the Python original's
-- final schema (after its alembic migration 012) so data can be copied over.

-- Keeps updated_at current on UPDATE unless the statement sets it itself.
-- Attached below and by later migrations to every table with updated_at.
CREATE FUNCTION dra_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE chats (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id     varchar(255) NOT NULL,
    title       varchar(500),
    status      varchar(20)  NOT NULL DEFAULT 'active',
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    -- soft delete: set together with status = 'deleted'; purged after the
    -- retention window
    deleted_at  timestamptz,
    metadata    jsonb        NOT NULL DEFAULT '{}',
    CONSTRAINT pk_chats PRIMARY KEY (id),
    CONSTRAINT ck_chats_status CHECK (status IN ('active', 'archived', 'deleted'))
);
CREATE INDEX ix_chats_user_id ON chats (user_id);
CREATE INDEX ix_chats_created_at ON chats (created_at);
-- chat list of a user, most recently active first, without deleted chats
CREATE INDEX ix_chats_user_updated_live ON chats (user_id, updated_at DESC)
    WHERE deleted_at IS NULL;
-- purge of soft-deleted chats past retention
CREATE INDEX ix_chats_deleted_at ON chats (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE TRIGGER trg_chats_updated_at BEFORE UPDATE ON chats
    FOR EACH ROW EXECUTE FUNCTION dra_set_updated_at();

CREATE TABLE messages (
    id                   uuid        NOT NULL DEFAULT gen_random_uuid(),
    chat_id              uuid        NOT NULL,
    role                 varchar(20) NOT NULL,
    -- NULL while the agent's answer is still being produced
    content              text,
    -- foreign key added by the research sessions migration (cyclic reference)
    research_session_id  uuid,
    is_edited            boolean     NOT NULL DEFAULT false,
    metadata             jsonb       NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_messages PRIMARY KEY (id),
    CONSTRAINT fk_messages_chat_id_chats FOREIGN KEY (chat_id)
        REFERENCES chats (id) ON DELETE CASCADE,
    -- the original stores agent answers as 'agent'; 'assistant' is accepted too
    CONSTRAINT ck_messages_role CHECK (role IN ('user', 'assistant', 'agent', 'system'))
);
CREATE INDEX ix_messages_chat_created ON messages (chat_id, created_at);
CREATE INDEX ix_messages_created_at ON messages (created_at);
CREATE INDEX ix_messages_research_session_id ON messages (research_session_id)
    WHERE research_session_id IS NOT NULL;
CREATE INDEX ix_messages_content_fts ON messages
    USING gin (to_tsvector('english', content));
CREATE TRIGGER trg_messages_updated_at BEFORE UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION dra_set_updated_at();

CREATE TABLE user_preferences (
    id                      uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id                 varchar(255) NOT NULL,
    default_research_depth  varchar(20)  NOT NULL DEFAULT 'auto',
    system_instructions     text,
    theme                   varchar(20)  NOT NULL DEFAULT 'system',
    notifications_enabled   boolean      NOT NULL DEFAULT true,
    created_at              timestamptz  NOT NULL DEFAULT now(),
    updated_at              timestamptz  NOT NULL DEFAULT now(),
    default_query_mode      varchar(20)  NOT NULL DEFAULT 'simple',
    CONSTRAINT pk_user_preferences PRIMARY KEY (id),
    CONSTRAINT uq_user_preferences_user_id UNIQUE (user_id)
);
CREATE TRIGGER trg_user_preferences_updated_at BEFORE UPDATE ON user_preferences
    FOR EACH ROW EXECUTE FUNCTION dra_set_updated_at();

CREATE TABLE message_feedback (
    id                 uuid         NOT NULL DEFAULT gen_random_uuid(),
    message_id         uuid         NOT NULL,
    user_id            varchar(255) NOT NULL,
    rating             varchar(20)  NOT NULL,
    feedback_text      text,
    feedback_category  varchar(50),
    trace_id           varchar(100),
    created_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_message_feedback PRIMARY KEY (id),
    CONSTRAINT fk_message_feedback_message_id_messages FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    -- one rating per user and message (the original checked this in code)
    CONSTRAINT uq_message_feedback_message_user UNIQUE (message_id, user_id),
    CONSTRAINT ck_message_feedback_rating CHECK (rating IN ('positive', 'negative'))
);
CREATE INDEX ix_message_feedback_user_id ON message_feedback (user_id);
CREATE INDEX ix_message_feedback_rating ON message_feedback (rating);

-- Append-only record of user actions.
CREATE TABLE audit_logs (
    id             uuid         NOT NULL DEFAULT gen_random_uuid(),
    user_id        varchar(255) NOT NULL,
    action         varchar(50)  NOT NULL,
    resource_type  varchar(50)  NOT NULL,
    resource_id    varchar(100),
    details        jsonb,
    ip_address     varchar(45),
    user_agent     text,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_audit_logs PRIMARY KEY (id)
);
CREATE INDEX ix_audit_logs_user_id ON audit_logs (user_id);
CREATE INDEX ix_audit_logs_action ON audit_logs (action);
CREATE INDEX ix_audit_logs_resource_type ON audit_logs (resource_type);
CREATE INDEX ix_audit_logs_created_at ON audit_logs (created_at);
