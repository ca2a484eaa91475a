package kubeletenv

import "k8s.io/kubernetes/third_party/forked/golang/expansion"

// Expand replaces $(NAME) references in s with the kubelet's own expansion
// (the one it applies to literal environment values, command and args):
// lookup says whether NAME is defined and its value; an undefined
// reference is kept verbatim, $$ is an escaped $.
func Expand(s string, lookup func(name string) (string, bool)) string {
	return expansion.Expand(s, func(name string) string {
		if v, ok := lookup(name); ok {
			return v
		}
		// What the kubelet's MappingFuncFor gives for an undefined name.
		return "$(" + name + ")"
	})
}
