-- host_stats_1m: the per-host traffic profile, every 1m.
--
-- Shows:   for each source address in the monitored networks: flows,
--          packets, bytes, average flow duration (ms), the number of
--          distinct peers (destination addresses) and of distinct
--          destination ports, and how many of its TCP flows carried each
--          flag (the flag distribution), as in Stream4Flow's host
--          profiles. distinct counts by HyperLogLog (typical error 2.3%): exact sets of every host's peers over 1m would cost far more memory.
-- Needs:   srcip, dstip, dstport, proto, tcpflags, packets, bytes, start,
--          end.
-- Tune:    which hosts are profiled is one setting, the network set
--          "monitored" (flowsqld --monitored, see docs/QUERIES.md); at most
--          max_groups hosts per window.
CREATE QUERY host_stats_1m WITH (max_groups = 1000000) AS
SELECT srcip,
       count(*) AS flows,
       sum(packets) AS packets,
       sum(bytes) AS bytes,
       avg(duration) AS avg_duration_ms,
       approx_count_distinct(dstip) AS peers,
       approx_count_distinct(dstport) AS ports,
       sum(CASE WHEN proto = 'tcp' AND has_flags(tcpflags, 'S') THEN 1 ELSE 0 END) AS syn,
       sum(CASE WHEN proto = 'tcp' AND has_flags(tcpflags, 'A') THEN 1 ELSE 0 END) AS ack,
       sum(CASE WHEN proto = 'tcp' AND has_flags(tcpflags, 'F') THEN 1 ELSE 0 END) AS fin,
       sum(CASE WHEN proto = 'tcp' AND has_flags(tcpflags, 'R') THEN 1 ELSE 0 END) AS rst,
       sum(CASE WHEN proto = 'tcp' AND has_flags(tcpflags, 'P') THEN 1 ELSE 0 END) AS psh,
       sum(CASE WHEN proto = 'tcp' AND has_flags(tcpflags, 'U') THEN 1 ELSE 0 END) AS urg
FROM flows WINDOW 1m
WHERE srcip IN monitored
GROUP BY srcip
