-- Schema version 11: no table changes. From this version a span's details
-- may be version 3: raw-span parts that name the span's own tool-call
-- result or arguments (stored once, as texts) instead of chunks of the
-- same bytes (raw.go). Recording the version makes a binary that cannot
-- read such details refuse the file instead of failing on those spans.
SELECT 1;
