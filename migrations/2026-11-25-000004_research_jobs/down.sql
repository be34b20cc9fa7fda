DROP TABLE research_jobs;
