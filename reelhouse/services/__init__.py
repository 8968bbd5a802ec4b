"""The services reelhouse starts and stops, all of one shape (`base.Service` over `base.Daemon`)."""
