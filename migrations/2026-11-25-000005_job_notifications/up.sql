-- Wake-ups for `dra serve` processes sharing one database (LISTEN/NOTIFY).
--
-- dra_events: '<session id>:<highest new sequence number>' after events are stored (one
--   notification per statement and session, so a batch insert wakes streams once), and
--   '<session id>:status' when a session's status changes. Streams then read the rows;
--   the payload only says where to look.
-- dra_jobs: 'queued:<job id>' when a job becomes claimable, 'cancel:<session id>' when
--   its cancellation is requested, so workers act at once instead of at their next poll.

CREATE FUNCTION dra_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dra_events', s.research_session_id::text || ':' || s.last_seq::text)
    FROM (SELECT research_session_id, max(coalesce(sequence_number, 0)) AS last_seq
          FROM new_rows GROUP BY research_session_id) AS s;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_research_events_notify AFTER INSERT ON research_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dra_notify_events();

CREATE FUNCTION dra_notify_session_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dra_events', NEW.id::text || ':status');
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_research_sessions_notify_status AFTER UPDATE OF status ON research_sessions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION dra_notify_session_status();

CREATE FUNCTION dra_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'queued' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'queued') THEN
        PERFORM pg_notify('dra_jobs', 'queued:' || NEW.id::text);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.cancel_requested AND NOT OLD.cancel_requested THEN
        PERFORM pg_notify('dra_jobs', 'cancel:' || NEW.research_session_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_research_jobs_notify AFTER INSERT OR UPDATE ON research_jobs
    FOR EACH ROW EXECUTE FUNCTION dra_notify_jobs();
