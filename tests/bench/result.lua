-- The end of every benchmark's wrk script: one line per run,
--   RESULT [PREFIX] ROUTE[TAG] requests/s p50-ms p99-ms errors
-- from the environment's ROUTE, TAG (optional, appended to the route) and PREFIX (optional, a
-- field of its own before it, e.g. a size).
done = function(summary, latency, requests)
  local prefix = os.getenv("PREFIX")
  io.write(string.format("RESULT %s%s%s %.1f %.2f %.2f %d\n", prefix and (prefix .. " ") or "", os.getenv("ROUTE"),
    os.getenv("TAG") or "", summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout))
end
