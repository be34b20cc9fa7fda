-- Claim-level citations, normalised as real tables (the Python original had
-- these until its migration 012 folded them into
-- research_sessions.verification_data, which is kept as well):
--   sources 1-n evidence_spans   minimal supporting quotes
--   claims (of an agent message / research session)
--   citations                    claim <-> evidence span, n-m
--   numeric_claims               1-1 extension of numeric claims
--   citation_corrections         post-verification citation fixes

CREATE TABLE evidence_spans (
    id                   uuid         NOT NULL DEFAULT gen_random_uuid(),
    source_id            uuid         NOT NULL,
    quote_text           text         NOT NULL,
    -- character offsets of the quote inside sources.content, when located
    start_offset         integer,
    end_offset           integer,
    section_heading      varchar(500),
    relevance_score      double precision,
    has_numeric_content  boolean      NOT NULL DEFAULT false,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_evidence_spans PRIMARY KEY (id),
    CONSTRAINT fk_evidence_spans_source_id_sources FOREIGN KEY (source_id)
        REFERENCES sources (id) ON DELETE CASCADE,
    CONSTRAINT ck_evidence_spans_offsets
        CHECK (start_offset IS NULL OR end_offset IS NULL OR start_offset <= end_offset)
);
CREATE INDEX ix_evidence_spans_source_id ON evidence_spans (source_id);

CREATE TABLE claims (
    id                      uuid         NOT NULL DEFAULT gen_random_uuid(),
    research_session_id     uuid         NOT NULL,
    -- the agent message (report) the claim was extracted from
    message_id              uuid         NOT NULL,
    claim_text              text         NOT NULL,
    claim_type              varchar(20)  NOT NULL DEFAULT 'general',
    confidence_level        varchar(20),
    -- character range of the claim inside the report
    position_start          integer      NOT NULL,
    position_end            integer      NOT NULL,
    verification_verdict    varchar(20),
    verification_reasoning  text,
    abstained               boolean      NOT NULL DEFAULT false,
    -- first human-readable citation marker, e.g. 'Arxiv' for [Arxiv]
    citation_key            varchar(100),
    -- every marker of a multi-citation sentence, as a JSON array of strings
    citation_keys           jsonb        NOT NULL DEFAULT '[]',
    from_free_block         boolean      NOT NULL DEFAULT false,
    created_at              timestamptz  NOT NULL DEFAULT now(),
    updated_at              timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_claims PRIMARY KEY (id),
    CONSTRAINT fk_claims_research_session_id_research_sessions
        FOREIGN KEY (research_session_id) REFERENCES research_sessions (id) ON DELETE CASCADE,
    CONSTRAINT fk_claims_message_id_messages FOREIGN KEY (message_id)
        REFERENCES messages (id) ON DELETE CASCADE,
    CONSTRAINT ck_claims_type CHECK (claim_type IN ('general', 'numeric')),
    CONSTRAINT ck_claims_confidence
        CHECK (confidence_level IS NULL OR confidence_level IN ('high', 'medium', 'low')),
    CONSTRAINT ck_claims_verdict CHECK (verification_verdict IS NULL
        OR verification_verdict IN ('supported', 'partial', 'unsupported', 'contradicted')),
    CONSTRAINT ck_claims_position_order CHECK (0 <= position_start AND position_start <= position_end)
);
CREATE INDEX ix_claims_message_position ON claims (message_id, position_start);
CREATE INDEX ix_claims_research_session_id ON claims (research_session_id);
CREATE INDEX idx_claims_verdict ON claims (verification_verdict);
CREATE TRIGGER trg_claims_updated_at BEFORE UPDATE ON claims
    FOR EACH ROW EXECUTE FUNCTION dra_set_updated_at();

CREATE TABLE citations (
    id                uuid             NOT NULL DEFAULT gen_random_uuid(),
    claim_id          uuid             NOT NULL,
    evidence_span_id  uuid             NOT NULL,
    confidence_score  double precision,
    is_primary        boolean          NOT NULL DEFAULT true,
    created_at        timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT pk_citations PRIMARY KEY (id),
    CONSTRAINT fk_citations_claim_id_claims FOREIGN KEY (claim_id)
        REFERENCES claims (id) ON DELETE CASCADE,
    CONSTRAINT fk_citations_evidence_span_id_evidence_spans FOREIGN KEY (evidence_span_id)
        REFERENCES evidence_spans (id) ON DELETE CASCADE,
    CONSTRAINT uq_citations_claim_evidence UNIQUE (claim_id, evidence_span_id),
    CONSTRAINT ck_citations_confidence_range CHECK (confidence_score IS NULL
        OR (confidence_score >= 0.0 AND confidence_score <= 1.0))
);
CREATE INDEX ix_citations_evidence_span_id ON citations (evidence_span_id);

CREATE TABLE numeric_claims (
    claim_id             uuid             NOT NULL,
    -- the number as written in the report, e.g. '$3.2 billion'
    raw_value            text             NOT NULL,
    -- numeric in the original; double precision here (no bigdecimal in the crate)
    normalized_value     double precision,
    unit                 varchar(50),
    entity_reference     text,
    derivation_type      varchar(20)      NOT NULL,
    computation_details  jsonb,
    assumptions          jsonb,
    qa_verification      jsonb,
    CONSTRAINT pk_numeric_claims PRIMARY KEY (claim_id),
    CONSTRAINT fk_numeric_claims_claim_id_claims FOREIGN KEY (claim_id)
        REFERENCES claims (id) ON DELETE CASCADE,
    CONSTRAINT ck_numeric_claims_derivation CHECK (derivation_type IN ('direct', 'computed'))
);

CREATE TABLE citation_corrections (
    id                          uuid         NOT NULL DEFAULT gen_random_uuid(),
    claim_id                    uuid         NOT NULL,
    original_evidence_span_id   uuid,
    corrected_evidence_span_id  uuid,
    correction_type             varchar(20)  NOT NULL,
    reasoning                   text,
    created_at                  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_citation_corrections PRIMARY KEY (id),
    CONSTRAINT fk_citation_corrections_claim_id_claims FOREIGN KEY (claim_id)
        REFERENCES claims (id) ON DELETE CASCADE,
    CONSTRAINT fk_citation_corrections_original_evidence_span_id FOREIGN KEY (original_evidence_span_id)
        REFERENCES evidence_spans (id) ON DELETE SET NULL,
    CONSTRAINT fk_citation_corrections_corrected_evidence_span_id FOREIGN KEY (corrected_evidence_span_id)
        REFERENCES evidence_spans (id) ON DELETE SET NULL,
    CONSTRAINT ck_citation_corrections_type
        CHECK (correction_type IN ('keep', 'replace', 'remove', 'add_alternate'))
);
CREATE INDEX ix_citation_corrections_claim_id ON citation_corrections (claim_id);
CREATE INDEX ix_citation_corrections_original_span ON citation_corrections (original_evidence_span_id)
    WHERE original_evidence_span_id IS NOT NULL;
CREATE INDEX ix_citation_corrections_corrected_span ON citation_corrections (corrected_evidence_span_id)
    WHERE corrected_evidence_span_id IS NOT NULL;
