"""Pipeline stages (pure), the embedded engine, the Faust app and agents, and the CLI."""
