package operator

import "flag"

// bindRollbackFlags registers the rollback detector's thresholds
// (docs/rollback.md); tests on a real kubelet lower them.
func bindRollbackFlags(fs *flag.FlagSet, o *Options) {
	fs.IntVar(&o.Rollback.MinRestarts, "rollback-min-restarts", o.Rollback.MinRestarts, "restarts (each within the startup window) after which an instrumented app container counts as crash-looping")
	fs.DurationVar(&o.Rollback.StartupWindow, "rollback-startup-window", o.Rollback.StartupWindow, "a crash after running longer than this is the app's (flapping), not instrumentation's")
	fs.DurationVar(&o.Rollback.ImagePullGrace, "rollback-image-pull-grace", o.Rollback.ImagePullGrace, "how long an agent init container may fail to pull its image before the workload is rolled back")
	fs.IntVar(&o.Rollback.OOMKills, "rollback-oom-kills", o.Rollback.OOMKills, "OOMKilled restarts of an instrumented app container after which it counts as failing")
}
