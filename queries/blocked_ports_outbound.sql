-- blocked_ports_outbound: hosts of the monitored networks talking to the
-- outside on ports that should never leave the network, per minute.
--
-- Shows:   inside host, outside host, port, flows and bytes.
-- Needs:   srcip, dstip, dstport, proto, bytes; the network set
--          "monitored" (what is inside).
-- Tune:    the port list: telnet (23, 2323), MS RPC (135), NetBIOS
--          (137-139), SMB (445), plus whatever your policy blocks.
CREATE QUERY blocked_ports_outbound AS
SELECT srcip, dstip, dstport, count(*) AS flows, sum(bytes) AS bytes
FROM flows WINDOW 1m
WHERE srcip IN monitored AND dstip NOT IN monitored
  AND proto IN ('tcp', 'udp')
  AND dstport IN (23, 2323, 135, 137, 138, 139, 445)
GROUP BY srcip, dstip, dstport
