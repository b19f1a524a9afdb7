-- AlterTable
ALTER TABLE "Appointment" ADD COLUMN     "providerDeletedAt" TIMESTAMP(3),
ADD COLUMN     "providerVerifiedAt" TIMESTAMP(3);
