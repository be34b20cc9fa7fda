// @generated — mirrors the SQL in `migrations/` (the output `diesel print-schema`
// gives for a database migrated to the newest migration). Do not edit by hand
// without changing a migration too: `tests/it/schema_drift.rs` applies every
// migration to a scratch PostgreSQL database and fails on any difference in
// tables, columns, types, nullability or varchar lengths.

diesel::table! {
    audit_logs (id) {
        id -> Uuid,
        #[max_length = 255]
        user_id -> Varchar,
        #[max_length = 50]
        action -> Varchar,
        #[max_length = 50]
        resource_type -> Varchar,
        #[max_length = 100]
        resource_id -> Nullable<Varchar>,
        details -> Nullable<Jsonb>,
        #[max_length = 45]
        ip_address -> Nullable<Varchar>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    chats (id) {
        id -> Uuid,
        #[max_length = 255]
        user_id -> Varchar,
        #[max_length = 500]
        title -> Nullable<Varchar>,
        #[max_length = 20]
        status -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        metadata -> Jsonb,
    }
}

diesel::table! {
    citation_corrections (id) {
        id -> Uuid,
        claim_id -> Uuid,
        original_evidence_span_id -> Nullable<Uuid>,
        corrected_evidence_span_id -> Nullable<Uuid>,
        #[max_length = 20]
        correction_type -> Varchar,
        reasoning -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    citations (id) {
        id -> Uuid,
        claim_id -> Uuid,
        evidence_span_id -> Uuid,
        confidence_score -> Nullable<Float8>,
        is_primary -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    claims (id) {
        id -> Uuid,
        research_session_id -> Uuid,
        message_id -> Uuid,
        claim_text -> Text,
        #[max_length = 20]
        claim_type -> Varchar,
        #[max_length = 20]
        confidence_level -> Nullable<Varchar>,
        position_start -> Int4,
        position_end -> Int4,
        #[max_length = 20]
        verification_verdict -> Nullable<Varchar>,
        verification_reasoning -> Nullable<Text>,
        abstained -> Bool,
        #[max_length = 100]
        citation_key -> Nullable<Varchar>,
        citation_keys -> Jsonb,
        from_free_block -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    evidence_spans (id) {
        id -> Uuid,
        source_id -> Uuid,
        quote_text -> Text,
        start_offset -> Nullable<Int4>,
        end_offset -> Nullable<Int4>,
        #[max_length = 500]
        section_heading -> Nullable<Varchar>,
        relevance_score -> Nullable<Float8>,
        has_numeric_content -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    message_feedback (id) {
        id -> Uuid,
        message_id -> Uuid,
        #[max_length = 255]
        user_id -> Varchar,
        #[max_length = 20]
        rating -> Varchar,
        feedback_text -> Nullable<Text>,
        #[max_length = 50]
        feedback_category -> Nullable<Varchar>,
        #[max_length = 100]
        trace_id -> Nullable<Varchar>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        chat_id -> Uuid,
        #[max_length = 20]
        role -> Varchar,
        content -> Nullable<Text>,
        research_session_id -> Nullable<Uuid>,
        is_edited -> Bool,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    numeric_claims (claim_id) {
        claim_id -> Uuid,
        raw_value -> Text,
        normalized_value -> Nullable<Float8>,
        #[max_length = 50]
        unit -> Nullable<Varchar>,
        entity_reference -> Nullable<Text>,
        #[max_length = 20]
        derivation_type -> Varchar,
        computation_details -> Nullable<Jsonb>,
        assumptions -> Nullable<Jsonb>,
        qa_verification -> Nullable<Jsonb>,
    }
}

diesel::table! {
    research_events (id) {
        id -> Uuid,
        research_session_id -> Uuid,
        #[max_length = 50]
        event_type -> Varchar,
        timestamp -> Timestamptz,
        payload -> Jsonb,
        created_at -> Timestamptz,
        sequence_number -> Nullable<Int4>,
    }
}

diesel::table! {
    research_jobs (id) {
        id -> Uuid,
        research_session_id -> Uuid,
        chat_id -> Uuid,
        #[max_length = 255]
        user_id -> Varchar,
        #[max_length = 20]
        status -> Varchar,
        request -> Jsonb,
        #[max_length = 255]
        worker_id -> Nullable<Varchar>,
        attempts -> Int4,
        heartbeat_at -> Nullable<Timestamptz>,
        cancel_requested -> Bool,
        error_message -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    research_sessions (id) {
        id -> Uuid,
        message_id -> Uuid,
        query -> Text,
        #[max_length = 20]
        status -> Varchar,
        plan -> Nullable<Jsonb>,
        observations -> Nullable<Jsonb>,
        reasoning_steps -> Jsonb,
        #[max_length = 20]
        research_depth -> Varchar,
        query_classification -> Nullable<Jsonb>,
        current_step_index -> Nullable<Int4>,
        plan_iterations -> Int4,
        #[max_length = 50]
        current_agent -> Nullable<Varchar>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        error_message -> Nullable<Text>,
        #[max_length = 20]
        query_mode -> Varchar,
        #[max_length = 255]
        user_id -> Varchar,
        chat_id -> Uuid,
        execution_state -> Nullable<Jsonb>,
        #[max_length = 255]
        worker_id -> Nullable<Varchar>,
        last_heartbeat -> Nullable<Timestamptz>,
        verify_sources -> Bool,
        verification_data -> Nullable<Jsonb>,
    }
}

diesel::table! {
    sources (id) {
        id -> Uuid,
        research_session_id -> Uuid,
        url -> Text,
        #[max_length = 500]
        title -> Nullable<Varchar>,
        snippet -> Nullable<Text>,
        content -> Nullable<Text>,
        relevance_score -> Nullable<Float8>,
        fetched_at -> Timestamptz,
        total_pages -> Nullable<Int4>,
        detected_sections -> Nullable<Text>,
        #[max_length = 50]
        content_type -> Nullable<Varchar>,
        chat_id -> Nullable<Uuid>,
        is_cited -> Bool,
        step_index -> Nullable<Int4>,
        #[max_length = 500]
        step_title -> Nullable<Varchar>,
        #[max_length = 20]
        crawl_status -> Varchar,
        error_reason -> Nullable<Text>,
        #[max_length = 50]
        source_type -> Varchar,
        source_metadata -> Nullable<Jsonb>,
    }
}

diesel::table! {
    user_preferences (id) {
        id -> Uuid,
        #[max_length = 255]
        user_id -> Varchar,
        #[max_length = 20]
        default_research_depth -> Varchar,
        system_instructions -> Nullable<Text>,
        #[max_length = 20]
        theme -> Varchar,
        notifications_enabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        #[max_length = 20]
        default_query_mode -> Varchar,
    }
}

diesel::joinable!(citation_corrections -> claims (claim_id));
diesel::joinable!(citations -> claims (claim_id));
diesel::joinable!(citations -> evidence_spans (evidence_span_id));
diesel::joinable!(claims -> messages (message_id));
diesel::joinable!(claims -> research_sessions (research_session_id));
diesel::joinable!(evidence_spans -> sources (source_id));
diesel::joinable!(message_feedback -> messages (message_id));
diesel::joinable!(messages -> chats (chat_id));
diesel::joinable!(numeric_claims -> claims (claim_id));
diesel::joinable!(research_events -> research_sessions (research_session_id));
diesel::joinable!(research_jobs -> chats (chat_id));
diesel::joinable!(research_jobs -> research_sessions (research_session_id));
diesel::joinable!(research_sessions -> chats (chat_id));
diesel::joinable!(sources -> chats (chat_id));
diesel::joinable!(sources -> research_sessions (research_session_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_logs,
    chats,
    citation_corrections,
    citations,
    claims,
    evidence_spans,
    message_feedback,
    messages,
    numeric_claims,
    research_events,
    research_jobs,
    research_sessions,
    sources,
    user_preferences,
);
