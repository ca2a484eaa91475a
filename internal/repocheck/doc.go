// Package repocheck holds tests about the repository as a whole rather than
// about one package: properties every tracked file must have. It has no
// code of its own; see its _test.go files.
package repocheck
