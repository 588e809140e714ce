"""SpiffWorkflow runtime: deployed models, instances, the script sandbox."""
