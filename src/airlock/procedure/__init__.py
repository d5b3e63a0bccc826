"""The migration procedure: the only way a run can go (lifecycle), its persistence, its steps and its report."""
