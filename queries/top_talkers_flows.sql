-- top_talkers_flows: the 10 sources that opened the most flows, per minute.
--
-- Shows:   srcip with its flows, bytes and distinct peers, most flows first.
--          Many flows with few bytes is the signature of scanners and
--          misbehaving clients, where top_talkers_bytes shows backups and
--          downloads.
-- Needs:   srcip, dstip, bytes.
-- Tune:    LIMIT and the window.
CREATE QUERY top_talkers_flows AS
SELECT srcip, count(*) AS flows, sum(bytes) AS bytes,
       approx_count_distinct(dstip) AS peers
FROM flows WINDOW 1m
GROUP BY srcip
ORDER BY flows DESC LIMIT 10
