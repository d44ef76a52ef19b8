"""The study report: one self-contained HTML page of a whole study."""
