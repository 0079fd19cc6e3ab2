def parse_millis(quantity: str) -> int:
    """Parse a Kubernetes quantity into thousandths, rounded up ("250m" -> 250)."""

def parse_units(quantity: str) -> int:
    """Parse a Kubernetes quantity into whole units, rounded up ("1Gi" -> 1073741824)."""

def instance_type_json(name: str) -> str:
    """Facts about one instance type of the embedded us-east-1 catalog, as JSON."""
