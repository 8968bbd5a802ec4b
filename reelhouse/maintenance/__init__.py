"""`reelhouse maintain`: the plan (pure), the Delta operations (io) and the job."""
