"""Use cases. Each public function takes ids and primitives and owns its transaction."""
