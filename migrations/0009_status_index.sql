-- The web pages' ingestion status (GET /api/v1/status) counts the messages received in the last
-- days by transport and outcome: an index on the arrival time keeps that a range scan.
CREATE INDEX raw_messages_received ON raw_messages (received_at);
