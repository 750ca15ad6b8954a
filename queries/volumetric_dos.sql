-- volumetric_dos: any protocol, a flood of packets or bytes toward one
-- host, per 10 s.
--
-- Shows:   the target, packets, bytes, flows, distinct sources, and the
--          protocol carrying most of it.
-- Needs:   dstip, srcip, proto, packets, bytes. Sampled exporters: the
--          counters are as exported, so scale the thresholds by the
--          sampling rate.
-- Tune:    at least 1,000,000 packets (100 kpps) or 1 GB (800 Mbit/s) in
--          10 s toward one address.
CREATE QUERY volumetric_dos AS
SELECT dstip AS target, sum(packets) AS packets, sum(bytes) AS bytes,
       count(*) AS flows, approx_count_distinct(srcip) AS sources,
       topk(proto, 1) AS top_protocol
FROM flows WINDOW 10s
GROUP BY dstip
HAVING sum(packets) >= 1000000 OR sum(bytes) >= 1000000000
