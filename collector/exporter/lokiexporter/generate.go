package lokiexporter

//go:generate go tool mdatagen metadata.yaml
