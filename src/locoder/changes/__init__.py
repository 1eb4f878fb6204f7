"""What each task changed, kept so it can be seen and undone: a commit of the task's files in git, a
checkpoint of the files outside it (see README.md)."""
