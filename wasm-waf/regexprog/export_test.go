package regexprog

// PikeOnly makes m run the Pike VM on every input, so that tests cover both strategies.
func PikeOnly(m *Machine) *Machine {
	m.backtrackLimit = 0
	return m
}
