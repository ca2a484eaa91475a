package instrumentation

import "slices"

// allMutateCases is the whole table: the Python/SDK cases and the cases of
// every other injection kind.
func allMutateCases() []mutateCase {
	return slices.Concat(mutateCases, languageCases)
}

var languageCases = []mutateCase{}
