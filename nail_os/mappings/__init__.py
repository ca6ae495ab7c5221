"""Index bodies as JSON, read by name (`nail_os.mapping.load_body`) and shipped in the wheel as package data.

They live here, not in the top-level `mappings/` (which holds a README pointing here), because a file
inside the package is found alike by an editable install, a wheel and a Windows checkout; a link is not.
"""
