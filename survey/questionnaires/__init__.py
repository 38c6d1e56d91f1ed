"""The questionnaire file format: ``model`` (the objects), ``validation`` (``parse``),
``loading`` (YAML files; the shipped ones sit in this folder) and ``sync`` (the survey's stored document)."""
