// The migration suite (migration.ts) on Kubernetes 1.23 (dockershim).
import { describeMigration } from "./migration.js";

describeMigration("1.23");
