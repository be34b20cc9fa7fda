DROP TABLE citation_corrections;
DROP TABLE numeric_claims;
DROP TABLE citations;
DROP TABLE claims;
DROP TABLE evidence_spans;
