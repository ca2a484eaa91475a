package main

import (
	"errors"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
)

// softMemoryLimit gives the Go runtime a soft memory limit of 90% of the
// operator's cgroup memory limit (the container's resources.limits.memory),
// unless GOMEMLIMIT is set (it wins) or AUTOMEMLIMIT=off. Without one the
// heap may grow to twice what is live before a collection, and a burst (the
// first list of every pod, a wave of admissions) can take a pod past its
// limit though what it holds fits; with one, the collector runs more often
// near the limit instead (more CPU, no OOM kill). AUTOMEMLIMIT=0.5 sets
// another share. No cgroup limit (a process outside a container): nothing
// changes.
func softMemoryLimit(log logr.Logger) {
	limit, err := memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup))
	switch {
	case errors.Is(err, memlimit.ErrNoCgroup), errors.Is(err, memlimit.ErrCgroupsNotSupported):
		log.V(1).Info("no cgroup memory limit to derive GOMEMLIMIT from", "reason", err.Error())
	case err == nil && limit == math.MaxInt64:
		log.V(1).Info("no cgroup memory limit to derive GOMEMLIMIT from")
	case err != nil:
		log.Info("GOMEMLIMIT left as it was", "reason", err.Error())
	default:
		log.Info("Go soft memory limit", "bytes", limit)
	}
}
