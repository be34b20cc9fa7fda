DROP TRIGGER IF EXISTS trg_research_jobs_notify ON research_jobs;
DROP FUNCTION IF EXISTS dra_notify_jobs();
DROP TRIGGER IF EXISTS trg_research_sessions_notify_status ON research_sessions;
DROP FUNCTION IF EXISTS dra_notify_session_status();
DROP TRIGGER IF EXISTS trg_research_events_notify ON research_events;
DROP FUNCTION IF EXISTS dra_notify_events();
