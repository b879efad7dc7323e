module cri-migrator.local/pause

go 1.21
