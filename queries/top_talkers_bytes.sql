-- top_talkers_bytes: the 10 sources that sent the most bytes, per minute.
--
-- Shows:   srcip with its bytes, packets and flows, largest first.
-- Needs:   srcip, bytes, packets.
-- Tune:    LIMIT for more or fewer talkers; the window for the period.
CREATE QUERY top_talkers_bytes AS
SELECT srcip, sum(bytes) AS bytes, sum(packets) AS packets, count(*) AS flows
FROM flows WINDOW 1m
GROUP BY srcip
ORDER BY bytes DESC LIMIT 10
