DROP TABLE audit_logs;
DROP TABLE message_feedback;
DROP TABLE user_preferences;
DROP TABLE messages;
DROP TABLE chats;
DROP FUNCTION dra_set_updated_at();
