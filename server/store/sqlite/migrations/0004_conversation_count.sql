-- Schema version 4: the number of conversations of each project, kept by
-- every write, so that the unfiltered conversations page does not count
-- them (a scan of every conversation row) on each request.
ALTER TABLE projects ADD COLUMN conv_count INTEGER NOT NULL DEFAULT 0;
UPDATE projects SET conv_count = (SELECT COUNT(*) FROM conversations c WHERE c.proj = projects.id AND c.span_count > 0);
