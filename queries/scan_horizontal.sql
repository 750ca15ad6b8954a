-- scan_horizontal: horizontal port scans - one source probing one port on
-- many hosts - per minute.
--
-- Shows:   srcip, the port, how many distinct hosts it sent connection
--          attempts to, and the attempts.
-- Needs:   proto, tcpflags, srcip, dstip, dstport. Counts only TCP flows
--          whose flags are exactly SYN: attempts nobody answered, which is
--          what a scan leaves behind (an exporter that does not send TCP
--          flags makes this query silent).
-- Tune:    the threshold, 50 distinct targets per minute: lower it to
--          catch slow scans, raise it if busy NAT gateways trigger it.
CREATE QUERY scan_horizontal AS
SELECT srcip, dstport, count(DISTINCT dstip) AS targets, count(*) AS attempts
FROM flows WINDOW 1m
WHERE proto = 'tcp' AND tcpflags = 'S'
GROUP BY srcip, dstport
HAVING count(DISTINCT dstip) >= 50
