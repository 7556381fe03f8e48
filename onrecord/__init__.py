"""The shell: the ``onrecord`` CLI and the pipeline that composes the stages."""
