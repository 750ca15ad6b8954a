-- bruteforce_rdp: RDP password guessing - many short connections with
-- similar packet counts from one source to port 3389 of one host - per 5 minutes.
--
-- Shows:   srcip, dstip, attempts, the average and the spread (max - min)
--          of packets per attempt.
-- Needs:   proto, dstport, packets, start, end (for the duration).
-- How:     a login attempt is a short TCP session (under 30 s) of a few
--          packets (4 to 60); one client making many of them, all about
--          the same size, is a tool trying passwords, where a person who
--          logs in makes a few long sessions of varying size.
-- Tune:    at least 20 attempts in 5 minutes whose packet counts lie
--          within 8 of each other; raise the attempts for busy jump hosts.
CREATE QUERY bruteforce_rdp AS
SELECT srcip, dstip, count(*) AS attempts, avg(packets) AS avg_packets,
       max(packets) - min(packets) AS packet_spread
FROM flows WINDOW 5m
WHERE proto = 'tcp' AND dstport = 3389
  AND packets BETWEEN 4 AND 60 AND duration < 30s
GROUP BY srcip, dstip
HAVING count(*) >= 20 AND max(packets) - min(packets) <= 8
