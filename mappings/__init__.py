"""Index bodies as JSON, shipped inside the wheel as `nail_os.mappings` and read by name."""
