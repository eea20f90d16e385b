"""What every process shares to be observable: the correlation id of the current
business flow and the metric instruments. Imports nothing of Syncline's."""
