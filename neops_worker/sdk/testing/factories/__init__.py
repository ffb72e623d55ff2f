"""The vendor SDK's test factories (``context_factory.create_workflow_context``)."""
