-- scan_vertical: vertical port scans - one source probing many ports of
-- one host - per minute.
--
-- Shows:   srcip, dstip, how many distinct ports were probed, the attempts.
-- Needs:   proto, tcpflags, srcip, dstip, dstport. SYN-only TCP flows, as
--          in scan_horizontal.
-- Tune:    the threshold, 50 distinct ports per minute.
CREATE QUERY scan_vertical AS
SELECT srcip, dstip, count(DISTINCT dstport) AS ports, count(*) AS attempts
FROM flows WINDOW 1m
WHERE proto = 'tcp' AND tcpflags = 'S'
GROUP BY srcip, dstip
HAVING count(DISTINCT dstport) >= 50
