-- syn_flood: TCP SYN floods toward one host, per 10 s.
--
-- Shows:   the target, SYN-only flows toward it, distinct sources (spoofed
--          floods show thousands), packets.
-- Needs:   proto, tcpflags, srcip, dstip, packets.
-- Tune:    at least 1000 unanswered SYN flows in 10 s.
CREATE QUERY syn_flood AS
SELECT dstip AS target, count(*) AS syn_flows,
       approx_count_distinct(srcip) AS sources, sum(packets) AS packets
FROM flows WINDOW 10s
WHERE proto = 'tcp' AND tcpflags = 'S'
GROUP BY dstip
HAVING count(*) >= 1000
