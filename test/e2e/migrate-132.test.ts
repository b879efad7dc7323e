// The migration suite (migration.ts) on Kubernetes 1.32 (cri-dockerd), with the operations cases (operations.ts).
import { describeMigration } from "./migration.js";

describeMigration("1.32");
