-- CreateTable
CREATE TABLE "AppointmentIdempotencyKey" (
    "clientId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "leadId" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "responseStatus" INTEGER,
    "responseBody" JSONB,
    "appointmentId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),

    CONSTRAINT "AppointmentIdempotencyKey_pkey" PRIMARY KEY ("clientId","key")
);

-- CreateIndex
CREATE INDEX "AppointmentIdempotencyKey_leadId_idx" ON "AppointmentIdempotencyKey"("leadId");

-- CreateIndex
CREATE INDEX "AppointmentIdempotencyKey_createdAt_idx" ON "AppointmentIdempotencyKey"("createdAt");

-- AddForeignKey
ALTER TABLE "AppointmentIdempotencyKey" ADD CONSTRAINT "AppointmentIdempotencyKey_leadId_fkey" FOREIGN KEY ("leadId") REFERENCES "Lead"("id") ON DELETE CASCADE ON UPDATE CASCADE;
