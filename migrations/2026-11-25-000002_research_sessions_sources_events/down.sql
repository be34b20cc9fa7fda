DROP TABLE research_events;
DROP TABLE sources;
ALTER TABLE messages DROP CONSTRAINT fk_messages_research_session_id_research_sessions;
DROP TABLE research_sessions;
