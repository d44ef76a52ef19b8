"""What every stage and tool needs: the errors a user can fix, the registries, the command-line
wrapper and the facts of the machine. Imports nothing else of imgstudy."""
